"""``python -m kasc.serfr_table [--width 32] [--first-stride 2]``, as users know it: prints
the SERFR-CNN layer table (the code is :mod:`kasc.complexity.layer_table`; also ``kasc serfr-table``)."""

if __name__ == "__main__":
    from kasc.complexity.layer_table import main

    main()
