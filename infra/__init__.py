"""AWS CDK infrastructure for athena-session-monitor: one construct per concern, composed in stack.py."""
