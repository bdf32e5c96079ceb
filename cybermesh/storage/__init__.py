"""cybermesh.storage"""
