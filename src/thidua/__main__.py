from thidua.cli.main import main

raise SystemExit(main())
