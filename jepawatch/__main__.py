"""`python -m jepawatch` (also what `torchrun -m jepawatch train ...` runs)."""

from jepawatch.cli.app import main

if __name__ == "__main__":
    main()
