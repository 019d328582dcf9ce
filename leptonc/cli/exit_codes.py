"""The exit codes of ``leptonc``: 0 success, 1 error, 2 bad usage (the ``exit_code`` of
``leptonc.errors.LeptoncError`` and ``UsageError``), and those below."""

EXIT_OK = 0
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in leptonc, not in the user's input
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
