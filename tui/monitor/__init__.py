"""tui.monitor"""
