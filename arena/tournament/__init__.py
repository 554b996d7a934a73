"""Tournaments: who plays whom, in which seats, with which seeds (`schedule`), and later running
and rating them. Kept free of imports so importing one submodule stays cheap."""
