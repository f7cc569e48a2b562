from deep_pg.cli import main

main()
