"""tui.core"""
