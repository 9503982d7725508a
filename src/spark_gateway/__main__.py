from spark_gateway.cli import main

main()
