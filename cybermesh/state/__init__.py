"""cybermesh.state"""
