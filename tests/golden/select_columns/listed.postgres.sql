cc_num,
        ts
