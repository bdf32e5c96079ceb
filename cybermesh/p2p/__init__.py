"""cybermesh.p2p"""
