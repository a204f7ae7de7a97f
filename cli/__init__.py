"""The ``bevaka`` command: the Typer app (:mod:`cli.app`), its shared state and console
(:mod:`cli.context`) and one module per command group. It imports the other packages;
none of them imports it (tests/test_layout.py holds this)."""
