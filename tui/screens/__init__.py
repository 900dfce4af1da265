"""tui.screens"""
