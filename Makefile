# Everything a fresh machine needs comes from PyPI into .venv: no ffmpeg, no system eSpeak NG.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ROUTINE ?= lower-back-relief

.PHONY: build test clean

# compileall: bytecode up front, as a wheel install has it (saves ~30 ms at every start where
# Python is told not to write it, as on this project's machines)
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,neural]'
	$(BIN)/python -m compileall -q voiceguide
	touch $@

## build: make output/lower-back-relief.mp3 (ROUTINE=name-or-path for another)
build: $(BIN)/.installed
	$(BIN)/voiceguide build $(ROUTINE)

## test: lint, type-check, then run the whole test suite
test: $(BIN)/.installed
	$(BIN)/ruff check voiceguide tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) output
