"""cybermesh.admission"""
