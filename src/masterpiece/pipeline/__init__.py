"""From files to colour: safe image I/O and the :class:`Colorizer`."""
