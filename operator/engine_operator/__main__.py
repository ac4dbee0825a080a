from engine_operator.cli import main

main()
