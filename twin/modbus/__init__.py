"""Modbus front end: register map generated from the tag table, TCP (and TLS, RTU) server.

Kept free of imports: ``twin.config`` imports ``twin.modbus.config`` while it loads.
"""
