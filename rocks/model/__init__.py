"""Plain domain data: frozen dataclasses and StrEnums, importing nothing heavy."""
