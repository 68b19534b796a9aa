"""``python -m kasc.serfr_table [--width 32] [--first-stride 2]``, as users know it: prints
the SERFR-CNN layer table (the code is :mod:`kasc.models.serfr_table`; also ``kasc serfr-table``)."""

if __name__ == "__main__":
    from kasc.models.serfr_table import main

    main()
