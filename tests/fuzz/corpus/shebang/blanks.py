#! /opt/venv/bin/python	-u  
