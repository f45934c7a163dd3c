"""`python -m voiceguide` runs the command line."""
from .entry import main

main()
