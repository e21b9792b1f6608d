from celery.schedules import crontab


def cron_fields(cron: str) -> dict[str, str]:
    """Names the five fields of a crontab line (minute hour day-of-month month day-of-week)."""
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError(f"expected five fields, got {len(parts)}")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }


def cron_checked(cron: str) -> str:
    """The crontab line itself when Celery can schedule it; else ValueError saying why."""
    try:
        crontab(**cron_fields(cron))
    except (ValueError, TypeError) as error:
        raise ValueError(f"must be five crontab fields like '0 2 * * *' ({error})") from error
    return cron
