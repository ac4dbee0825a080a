from skiplock_operator.cli import main

main()
