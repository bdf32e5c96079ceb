"""cybermesh.block"""
