count(*) filter (where ts >= x and (status = 'failed'))
