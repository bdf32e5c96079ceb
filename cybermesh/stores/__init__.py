"""cybermesh.stores"""
