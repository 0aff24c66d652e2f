#!/bin/bash
echo hi
