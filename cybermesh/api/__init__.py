"""cybermesh.api"""
