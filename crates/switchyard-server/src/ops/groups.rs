//! Account groups that keys can be bound to: create (with members), set, add or remove
//! members, delete (refused while keys are bound); list and get. An account may be in
//! several groups.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::AccountGroup;

use super::{Ctx, OpError, invalid, value};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Not a number (ids and names share selectors).
    #[schemars(regex(pattern = r"[^0-9\s]"))]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Account ids.
    #[serde(default)]
    pub account_ids: Vec<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembers {
    /// The group's accounts after the change (ids).
    pub account_ids: Vec<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub account_ids: Vec<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&AccountGroup> for GroupView {
    fn from(g: &AccountGroup) -> Self {
        GroupView {
            id: g.id,
            name: g.name.clone(),
            description: g.description.clone(),
            account_ids: g.account_ids.clone(),
            created_at: g.created_at,
        }
    }
}

/// A group by id or name.
pub async fn find(ctx: &Ctx<'_>, selector: &str) -> Result<AccountGroup, OpError> {
    Ok(ctx.store.find_group(selector).await?)
}

pub async fn get(ctx: &Ctx<'_>, selector: &str) -> Result<GroupView, OpError> {
    Ok(GroupView::from(&find(ctx, selector).await?))
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<GroupView>, OpError> {
    Ok(ctx
        .store
        .list_groups()
        .await?
        .iter()
        .map(GroupView::from)
        .collect())
}

/// Makes the group's members exactly `ids`.
async fn apply_members(ctx: &Ctx<'_>, group: &AccountGroup, ids: &[i64]) -> Result<(), OpError> {
    for id in ids {
        if !group.account_ids.contains(id) {
            ctx.store
                .add_group_member(group.id, *id)
                .await
                .map_err(|_| invalid("account_ids", format!("account {id} does not exist")))?;
        }
    }
    for id in &group.account_ids {
        if !ids.contains(id) {
            ctx.store.remove_group_member(group.id, *id).await?;
        }
    }
    Ok(())
}

pub async fn create(ctx: &Ctx<'_>, b: GroupBody) -> Result<GroupView, OpError> {
    let group = match ctx.store.create_group(&b.name, &b.description).await {
        Ok(g) => g,
        Err(switchyard_store::StoreError::Invalid(m)) => return Err(invalid("name", m)),
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = apply_members(ctx, &group, &b.account_ids).await {
        let _ = ctx.store.delete_group(group.id).await;
        return Err(e);
    }
    let view = GroupView::from(&find(ctx, &group.id.to_string()).await?);
    ctx.record("group.create", &view.name, None, value(&view))
        .await;
    Ok(view)
}

/// Makes the group's accounts exactly `account_ids`.
pub async fn set_members(
    ctx: &Ctx<'_>,
    selector: &str,
    account_ids: &[i64],
) -> Result<GroupView, OpError> {
    let old = find(ctx, selector).await?;
    apply_members(ctx, &old, account_ids).await?;
    let updated = GroupView::from(&find(ctx, &old.id.to_string()).await?);
    ctx.record(
        "group.members",
        &updated.name,
        value(&GroupView::from(&old)),
        value(&updated),
    )
    .await;
    Ok(updated)
}

/// Adds (`add`) or removes the accounts named by id or name.
pub async fn change_members(
    ctx: &Ctx<'_>,
    selector: &str,
    accounts: &[String],
    add: bool,
) -> Result<GroupView, OpError> {
    let group = find(ctx, selector).await?;
    let mut ids = group.account_ids.clone();
    for a in accounts {
        let id = super::accounts::find(ctx, a).await?.id;
        ids.retain(|x| *x != id);
        if add {
            ids.push(id);
        }
    }
    set_members(ctx, &group.id.to_string(), &ids).await
}

pub async fn remove(ctx: &Ctx<'_>, selector: &str) -> Result<GroupView, OpError> {
    let old = find(ctx, selector).await?;
    ctx.store.delete_group(old.id).await?;
    let view = GroupView::from(&old);
    ctx.record("group.delete", &old.name, value(&view), None)
        .await;
    Ok(view)
}
