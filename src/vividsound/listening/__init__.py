"""A blind listening test: the paper's human evaluation (Table 3), reproducible; see docs/LISTENING.md.

``vividsound listening-test create`` generates every condition's clips into a test folder,
``serve`` runs the rating page, ``report`` prints the table. Modules: ``spec`` (the versioned
``test.json``), ``create`` (clip generation), ``store`` (the SQLite ratings), ``report`` (bootstrap
statistics and attention checks), ``app`` (the FastAPI app and its page in ``static/``), ``cli``.
Importing this package imports nothing heavy: torch only in ``create``, FastAPI only in ``app``.
"""
