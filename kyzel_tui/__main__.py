from kyzel_tui.cli import main

raise SystemExit(main())
