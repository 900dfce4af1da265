"""tui.store"""
