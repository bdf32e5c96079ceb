"""cybermesh.agents"""
