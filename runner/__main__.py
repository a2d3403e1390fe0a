from runner.train import main

main()
