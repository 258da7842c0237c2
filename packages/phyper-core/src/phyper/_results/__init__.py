"""The tools people look at and tend results with: status, inventory, migrate, collect, accept, report."""
