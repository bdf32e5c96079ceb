"""cybermesh.tables"""
