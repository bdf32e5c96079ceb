"""cybermesh.mempool"""
