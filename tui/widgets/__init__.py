"""tui.widgets"""
