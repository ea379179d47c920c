"""The turn: input normalization, prompt building, the driver protocols use, tool
dispatch, assembly of the result and the runner that ties the phases together."""
