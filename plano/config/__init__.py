"""Config: YAML (ruamel) + environment substitution -> marshmallow -> frozen dataclasses.

Only loader.py reads os.environ (through an explicit mapping). Validation never touches the network.
"""
