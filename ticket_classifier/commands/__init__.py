"""The roof: commands that wire the layers below together.

``ticket_classifier.cli`` dispatches to them; the demo, the production configuration file
(which names a section of every layer), the ``classify`` command, the serving benchmark and
the PSI plot live here because each of them needs several middle layers at once. Nothing
below imports from here (``tests/test_layers.py``).
"""
