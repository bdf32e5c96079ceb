"""cybermesh.consensus"""
