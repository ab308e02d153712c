"""The declarative routing language: YAML rule files, validated, compiled and explained."""
