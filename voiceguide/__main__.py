"""`python -m voiceguide` runs the command line."""
from .cli import main

main()
