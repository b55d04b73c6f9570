"""The OPC UA front end (asyncua): typed information model, writes through the
engine's single command path, subscriptions driven by the scan, security.

Importing this package imports nothing heavy; ``twin.opcua.server`` pulls in asyncua.
"""
