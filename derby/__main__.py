from derby.cli import main

main()
