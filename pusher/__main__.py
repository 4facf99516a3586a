"""python -m pusher"""

from pusher.cli import main

main()
