"""Capturing a run: process, tracer, workspace scan, git, environment, resources."""
